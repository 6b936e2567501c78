"""scikit-learn's own estimator test suite on propel's estimators (every check it yields), for
each solver and each learning-rate schedule of the sgd solver."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from propel import MLPClassifier, MLPRegressor

# invscaling with rates it can learn with: at learning_rate_init=0.001 and power_t=0.5 the rate
# is 1e-4 after one epoch of 100 rows and no MLP reaches the checks' training scores, while the
# regression checks' unscaled targets (make_regression's, in the hundreds) make sgd diverge for
# some initial weights from about 3e-3 on: at 0.003 about 7% of seeds reach an infinite loss in
# check_regressor_multioutput, propel's and scikit-learn's own MLPRegressor alike; 0.002 diverged
# for none of 2000 seeds. The estimators' random_state is None here, so each run draws new seeds.
_VARIANTS = [
    (dict(), dict()),
    (dict(solver="lbfgs"), dict(solver="lbfgs")),
    (dict(solver="sgd"), dict(solver="sgd")),
    (dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05, power_t=0.1),
     dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.002, power_t=0.05)),
    (dict(solver="sgd", learning_rate="adaptive"), dict(solver="sgd", learning_rate="adaptive")),
]




def _expected_failures(estimator):
    # Unregularized L-BFGS on this check's separable multilabel data drives some logits past what
    # a float64 sigmoid resolves (above 36.7 the probability rounds to 1), so predict_proba is not
    # strictly inside (0, 1): scikit-learn's own MLPClassifier(solver="lbfgs") fails it the same
    # way. Whether a run gets there depends on the last bits of its loss values.
    if isinstance(estimator, MLPClassifier) and estimator.solver == "lbfgs":
        return {"check_classifiers_multilabel_output_format_predict_proba":
                "unregularized L-BFGS saturates the sigmoid, as scikit-learn's own MLP does"}
    return {}


@parametrize_with_checks([est for c, r in _VARIANTS for est in (MLPClassifier(**c),
                                                                 MLPRegressor(**r))],
                         expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
