"""V1 classes exercising VALIDATE_INPUTS, IS_CHANGED, OUTPUT_NODE and hidden inputs."""

import random


class ComfyMultiply:
    """Multiplies an INT by a factor; refuses factor 13 in VALIDATE_INPUTS."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("INT", {"default": 1, "min": -1000, "max": 1000}),
                "factor": ("INT", {"default": 2, "min": 0, "max": 100, "tooltip": "the multiplier"}),
            },
            "optional": {"offset": ("INT", {"default": 0})},
        }

    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("product",)
    FUNCTION = "multiply"
    CATEGORY = "fixture/math"
    DESCRIPTION = "value * factor + offset"

    @classmethod
    def VALIDATE_INPUTS(cls, factor):
        if factor == 13:
            return "factor 13 is unlucky"
        return True

    def multiply(self, value, factor, offset=0):
        return (value * factor + offset,)


class ComfyRandomPick:
    """Picks a random choice; IS_CHANGED returns NaN so it always re-runs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"choice": (["red", "green", "blue"],), "seed": ("INT", {"default": 0})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "pick"
    CATEGORY = "fixture"

    @classmethod
    def IS_CHANGED(cls, seed, **kwargs):
        return float("nan")

    def pick(self, choice, seed):
        return (random.Random(seed).choice([choice, choice.upper()]),)


class ComfyShowText:
    """An output node showing its text, with hidden inputs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"text": ("STRING", {"forceInput": True})},
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    RETURN_TYPES = ("STRING",)
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "fixture"

    def show(self, text, unique_id=None, prompt=None):
        return {"ui": {"text": [text]}, "result": (text,)}


NODE_CLASS_MAPPINGS = {
    "ComfyMultiply": ComfyMultiply,
    "ComfyRandomPick": ComfyRandomPick,
    "ComfyShowText": ComfyShowText,
}
NODE_DISPLAY_NAME_MAPPINGS = {"ComfyMultiply": "Multiply (fixture)"}
