import numpy as np
from scipy.stats import norm

from forecast.evaluation.scores import crps_samples, interval_coverage, pit_coverage, randomized_pit


def test_crps_matches_hand_computed_values():
    # one sample: CRPS is the absolute error
    assert crps_samples(np.array([3.0]), np.array([[5.0]]))[0] == 2.0
    # two samples {0, 2}, outcome 1: E|X-y| = 1, E|X-X'| = (0+2+2+0)/4 = 1 -> 1 - 0.5 = 0.5
    assert crps_samples(np.array([1.0]), np.array([[0.0], [2.0]]))[0] == 0.5


def test_crps_of_a_normal_matches_the_closed_form():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(20000, 3))
    y = np.array([0.0, 1.0, -2.0])
    exact = y * (2 * norm.cdf(y) - 1) + 2 * norm.pdf(y) - 1 / np.sqrt(np.pi)
    np.testing.assert_allclose(crps_samples(y, samples), exact, atol=0.02)


def test_randomized_pit_is_uniform_for_the_right_count_distribution():
    rng = np.random.default_rng(1)
    samples = rng.poisson(0.4, size=(4000, 2000))  # mostly zeros
    y = rng.poisson(0.4, size=2000)
    u = randomized_pit(y, samples)
    assert abs(np.mean(u < 0.5) - 0.5) < 0.04
    assert abs(pit_coverage(y, samples, 0.8) - 0.8) < 0.04
    # plain interval hits overcover discrete outcomes: the reason for the randomized PIT
    assert interval_coverage(y, samples, 0.8) > 0.9
