"""scikit-learn's own estimator test suite on propel's estimators (every check it yields), for
each solver and each learning-rate schedule of the sgd solver."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from propel import MLPClassifier, MLPRegressor

# invscaling with rates it can learn with: at learning_rate_init=0.001 and power_t=0.5 the rate
# is 1e-4 after one epoch of 100 rows and no MLP reaches the checks' training scores, while the
# regression checks' unscaled targets make sgd diverge above a few 1e-3.
_VARIANTS = [
    (dict(), dict()),
    (dict(solver="lbfgs"), dict(solver="lbfgs")),
    (dict(solver="sgd"), dict(solver="sgd")),
    (dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05, power_t=0.1),
     dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.003, power_t=0.05)),
    (dict(solver="sgd", learning_rate="adaptive"), dict(solver="sgd", learning_rate="adaptive")),
]


@parametrize_with_checks([est for c, r in _VARIANTS for est in (MLPClassifier(**c),
                                                                 MLPRegressor(**r))])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
