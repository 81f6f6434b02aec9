"""Safe decoding and preprocessing of untrusted media: images, text (and later video, HTML)."""
