"""HARL's 3x2 MaMuJoCo partitions (its ``obsk.py``), written out independently of ``envs.mamujoco``
so tests can check our custom partitions against them: joint labels per agent, in HARL's order."""

HARL_3X2 = {
    "HalfCheetah": [("bfoot", "bshin"), ("bthigh", "ffoot"), ("fshin", "fthigh")],
    "Walker2d": [("foot_joint", "leg_joint"), ("thigh_joint", "foot_left_joint"),
                 ("leg_left_joint", "thigh_left_joint")],
}
