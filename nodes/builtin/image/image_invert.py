"""ImageInvert: ``1 - image`` for every pixel and channel ("Invert Image")."""

from nodes.api import Image, node


@node("ImageInvert", display_name="Invert Image", category="image")
def image_invert(image: Image) -> Image:
    """Invert the colours of images (1 - value)."""
    return 1.0 - image


LATENTLOOM_NODES = [image_invert]
