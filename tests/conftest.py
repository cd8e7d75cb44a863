import os

from hypothesis import HealthCheck, settings

# CI: derandomized, bounded and without deadlines (shared machines are noisy).
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
# CI's bounds with random draws: pass --hypothesis-seed=N to vary them reproducibly.
settings.register_profile(
    "seeded",
    derandomize=False,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
# Local, thorough: many more examples.
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
