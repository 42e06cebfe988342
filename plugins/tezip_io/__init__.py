"""tezip's built-in input readers: ``.npy`` arrays and folders of images."""
