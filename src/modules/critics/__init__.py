"""State-value critics: ``REGISTRY[args.critic_type](scheme, args)``; ``critic(batch)`` returns
values ``[batch, time, n_agents, 1]`` for every stored step (including the final-state slot);
``critic(batch, t)`` for step ``t`` or a slice of steps."""

from modules.critics.ac import ACCritic, ACCriticNS
from modules.critics.centralV import CentralVCritic, CentralVCriticNS, StateVCritic

REGISTRY = {
    "cv_critic": CentralVCritic,
    "cv_critic_ns": CentralVCriticNS,
    "state_v_critic": StateVCritic,
    "ac_critic": ACCritic,
    "ac_critic_ns": ACCriticNS,
}
