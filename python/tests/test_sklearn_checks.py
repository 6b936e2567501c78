"""scikit-learn's own estimator test suite on propel's estimators (every check it yields)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from propel import MLPClassifier, MLPRegressor


@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
