"""bench's own parts: its copy of the tree and its prod cases (`cases`), the inner loop timed (`loop`), the
heavy profile (`heavy`, which lays the app beside it, heavy_app/, over the copy).
"""
