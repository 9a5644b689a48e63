"""Ground floor: errors, exact time maths, hashing and keys, threads, memory: what every room stands on."""
