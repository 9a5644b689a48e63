"""Who speaks each line: the cast file, automatic voices, and matching voices to the original actors."""
