"""A fixture pack with one good and one broken V1 class: the good one loads."""


class GoodNode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x):
        return (x,)


class NoFunctionNode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "missing_method"


NODE_CLASS_MAPPINGS = {"HalfGood": GoodNode, "HalfBroken": NoFunctionNode}
