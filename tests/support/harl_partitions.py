"""HARL's 3x2 MaMuJoCo partitions (its ``obsk.py``), written out independently of ``envs.mamujoco``
so tests can check our custom partitions against them: joint labels per agent, in HARL's order."""

HARL_3X2 = {
    "HalfCheetah": [("bfoot", "bshin"), ("bthigh", "ffoot"), ("fshin", "fthigh")],
    "Walker2d": [("foot_joint", "leg_joint"), ("thigh_joint", "foot_left_joint"),
                 ("leg_left_joint", "thigh_left_joint")],
}


def harl_factorization(mamujoco_v1, scenario: str) -> dict:
    """The ``agent_factorization`` of ``scenario``'s 3x2 partition, built from the package's joint graph."""
    parts, edges, global_nodes = mamujoco_v1.get_parts_and_edges(scenario, None)
    by_label = {node.label: node for node in parts[0]}
    return {"partition": [tuple(by_label[n] for n in group) for group in HARL_3X2[scenario]],
            "edges": edges, "globals": global_nodes}
