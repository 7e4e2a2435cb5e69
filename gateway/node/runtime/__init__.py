"""The gate node at run time: built from its config (:mod:`.build`), served by :mod:`.node`."""

from gateway.node.runtime.build import NodeOptions, build_parts
from gateway.node.runtime.node import GateNode, NodeParts

__all__ = ["GateNode", "NodeOptions", "NodeParts", "build_parts"]
