"""The editor's files: read, check and write NLE timelines (OTIO, FCP7 XML, FCPXML, AAF, EDL) and their dub tracks."""
