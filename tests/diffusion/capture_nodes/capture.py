"""A test-only node pack: ``Capture`` is an output node that returns its input, so tests can read any
value (MODEL, CLIP, CONDITIONING ...) from ``RunResult.value(node_id)`` of a real Engine run."""

from nodes.api import AnyType, node


@node("Capture", output=True, category="testing")
def capture(value: AnyType) -> AnyType:
    return value


LATENTLOOM_NODES = [capture]
