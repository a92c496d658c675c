"""Connected components of a graph given as edge arrays, vectorized (min-label hooking + pointer jumping).

Each component is labeled by its smallest node, so when nodes are document order keys the label is the document
that a cluster keeps. Memory is O(edges), i.e. O(duplicates), never O(corpus).
"""

from __future__ import annotations

import numpy as np


def connected_components(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, labels): the distinct nodes of the edges (sorted) and, for each, the smallest node of its component."""
    u = np.asarray(u, dtype=np.uint64)
    v = np.asarray(v, dtype=np.uint64)
    nodes = np.unique(np.concatenate([u, v]))
    if len(nodes) == 0:
        return nodes, nodes
    iu = np.searchsorted(nodes, u)
    iv = np.searchsorted(nodes, v)
    parent = np.arange(len(nodes), dtype=np.int64)
    while True:
        pu, pv = parent[iu], parent[iv]
        if np.array_equal(pu, pv):
            break
        low = np.minimum(pu, pv)
        np.minimum.at(parent, pu, low)  # hook each root under the smaller root across the edge
        np.minimum.at(parent, pv, low)
        while True:  # pointer jumping: every node points straight at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return nodes, nodes[parent]
