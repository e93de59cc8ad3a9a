"""The pure core: values in, values or decisions out. No I/O, no framework, no database."""
