"""Entries of a site (article, note, photo, album, paper, page, file, bookmark) as records in the
site's bucket, their JSON schemas, slugs and media. ``sites`` is the API the CLI and GUI call."""
