"""Statement text handling with sqlglot: split, find table references, rewrite them to registered names."""
