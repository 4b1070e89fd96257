"""The PySide6 desktop console: the only package that imports Qt."""
