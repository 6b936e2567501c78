"""scikit-learn estimators on propel: MLPClassifier and MLPRegressor.

The parameters, attributes and stopping rules are scikit-learn's MLPClassifier / MLPRegressor
(docs/python.md lists the differences); every epoch runs in propel (the GIL released), so an
epoch costs what propel's trainer costs, and the loop between epochs is this module's.
"""

import sys
import time
import warnings

import numpy as np
import scipy.optimize
import scipy.special
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from propel import _core, _propel

# scikit-learn's names (and propel's own) -> propel's activation names.
_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "elu": "elu",
    "gelu": "gelu_erf",
    "gelu_erf": "gelu_erf",
    "gelu_tanh": "gelu_tanh",
    "silu": "silu",
    "softplus": "softplus",
}
_SOLVERS = ("adam", "adamw", "sgd", "lbfgs")
_LEARNING_RATES = ("constant", "invscaling", "adaptive")
_PRECISIONS = ("fp32", "bf16", "auto")
# Rows per gradient evaluation of the full-batch L-BFGS: its workspace is one trainer's for this
# many rows, whatever the size of the data set.
_LBFGS_CHUNK_ROWS = 8192


class _BaseMLP(BaseEstimator):
    """What the two estimators share: parameters, validation, the epoch loop."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 threads=None, shard_size=256, executor="tbb", precision="fp32",
                 portable=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.threads = threads
        self.shard_size = shard_size
        self.executor = executor
        self.precision = precision
        self.portable = portable

    # -- parameters -------------------------------------------------------------------------
    def _check_params(self):
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if np.isscalar(hidden) else list(hidden)
        if any(int(h) != h or h <= 0 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, got {self.hidden_layer_sizes}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation='{self.activation}' is not one of {sorted(_ACTIVATIONS)}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver='{self.solver}' is not one of {_SOLVERS}")
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision='{self.precision}' is not one of {_PRECISIONS}")
        if not isinstance(self.portable, (bool, np.bool_)):
            raise ValueError(f"portable must be True or False, got {self.portable!r}")
        if self.learning_rate not in _LEARNING_RATES:
            raise ValueError(f"learning_rate='{self.learning_rate}' is not one of {_LEARNING_RATES}")
        if not np.isfinite(self.power_t):
            raise ValueError(f"power_t must be a finite number, got {self.power_t!r}")
        for name in ("max_iter", "n_iter_no_change", "shard_size", "max_fun"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("learning_rate_init", "epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("alpha", "tol"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum!r}")
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, (int, np.integer))
                                          or self.batch_size < 1):
            raise ValueError(f"batch_size must be 'auto' or a positive integer, got {self.batch_size!r}")
        if self.threads is not None and (not isinstance(self.threads, (int, np.integer))
                                         or self.threads < 1):
            raise ValueError(f"threads must be None or a positive integer, got {self.threads!r}")
        return [int(h) for h in hidden]

    def _optimizer(self, batch):
        """(optimizer kind, weight decay): scikit-learn's L2 term alpha/2 ||W||^2 / batch rows
        is a gradient of alpha W / batch on the mean loss's gradient, on the weights only (the
        trainer's decay_bias=False)."""
        if self.solver == "adam":
            return "adam", self.alpha / batch
        if self.solver == "adamw":
            return "adamw", self.alpha
        if self.momentum == 0:
            return "sgd", self.alpha / batch
        return ("nesterov" if self.nesterovs_momentum else "momentum"), self.alpha / batch

    # -- fitting ----------------------------------------------------------------------------
    def _resolved_precision(self):
        """The precision a trainer computes in: portable mode takes "auto" as "fp32"."""
        if self.portable and self.precision == "auto":
            return "fp32"
        return _propel.resolve_precision(self.precision)

    def _seed(self):
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _new_trainer(self, batch):
        kind, decay = self._optimizer(batch)
        return _core.Trainer(
            self.model_, optimizer=kind, lr=self.learning_rate_init, momentum=self.momentum,
            beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon, weight_decay=decay,
            max_batch=batch, shard_rows=self.shard_size, executor=self.executor,
            threads=0 if self.threads is None else int(self.threads), precision=self.precision,
            decay_bias=False, portable=bool(self.portable))

    def _fit(self, X, y, incremental):
        hidden = self._check_params()
        first = incremental is False or not hasattr(self, "model_")
        X, y = validate_data(self, X, y, reset=first, dtype=np.float32, order="C",
                             multi_output=True, y_numeric=self._y_numeric)
        # Continuing (partial_fit, warm_start): the fitted classes and outputs stay.
        continuing = hasattr(self, "model_") and (incremental or self.warm_start)
        targets = self._encode_targets(y, continuing)
        n = X.shape[0]
        fresh = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        if fresh:
            self._seed_ = self._seed()
            self.model_ = _core.Model(X.shape[1], self._outputs, hidden=hidden,
                                      activation=_ACTIVATIONS[self.activation], head=self._head,
                                      seed=self._seed_, init="glorot_uniform")
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
            else:
                self.validation_scores_ = None
                self.best_validation_score_ = None
        else:
            widths = [layer["out"] for layer in self.model_.layers[:-1]]
            if widths != hidden:
                raise ValueError(f"hidden_layer_sizes {tuple(hidden)} differs from the fitted "
                                 f"model's {tuple(widths)}: warm_start and partial_fit continue it")
            if self.early_stopping and self.validation_scores_ is None:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
            if self.best_loss_ is None:
                self.best_loss_ = np.inf
        self.n_layers_ = len(hidden) + 2
        self.n_outputs_ = self._outputs
        self.out_activation_ = {"multiclass": "softmax", "binary": "logistic",
                                "regression": "identity"}[self._head]
        if self.solver == "lbfgs":
            return self._fit_lbfgs(X, targets)
        # The learning rate of the next epoch: learning_rate_init for each fit, carried from one
        # partial_fit to the next (scikit-learn's optimizer object does the same).
        if not incremental or not hasattr(self, "_learning_rate"):
            self._learning_rate = float(self.learning_rate_init)

        X_val = t_val = None
        if self.early_stopping and not incremental:
            # Stratified for a classifier, as scikit-learn splits (a multilabel y is not).
            stratify = None
            if isinstance(self, ClassifierMixin):
                if self._head == "multiclass":
                    stratify = targets
                elif self._outputs == 1:
                    stratify = targets[:, 0]
            X, X_val, targets, t_val = train_test_split(
                X, targets, random_state=self._seed_, test_size=self.validation_fraction,
                stratify=stratify)
            X = np.ascontiguousarray(X)
            if X_val.shape[0] < 2:
                raise ValueError(f"validation_fraction={self.validation_fraction} leaves "
                                 f"{X_val.shape[0]} validation rows of {n}")
            n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        saved = self.__dict__.pop("_trainer_checkpoint", None)  # from an unpickled estimator
        if incremental and getattr(self, "_trainer", None) is None and saved is not None:
            self._trainer = self._new_trainer(max(batch, saved[0]))
            self._trainer.load_bytes(saved[1], "<pickled optimizer state>")
        trainer = getattr(self, "_trainer", None) if incremental else None
        if trainer is not None and (trainer.max_batch < batch or trainer.precision !=
                                    self._resolved_precision() or
                                    trainer.portable != bool(self.portable)):
            # A larger batch, another precision or mode: a new trainer, with the optimizer state
            # and update count of the one it replaces.
            previous = trainer.to_bytes()
            trainer = self._new_trainer(max(batch, trainer.max_batch))
            trainer.load_bytes(previous, "<optimizer state>")
        if trainer is None:
            trainer = self._new_trainer(max(batch, 1))
        self._trainer = trainer

        epochs = 1 if incremental else self.max_iter
        best_params = None
        sgd = self.solver == "sgd"
        for _ in range(epochs):
            start = time.perf_counter()
            stats = trainer.fit(X, targets, start_epoch=self.n_iter_, epochs=self.n_iter_ + 1,
                                batch=batch, seed=self._seed_, shuffle=self.shuffle,
                                lr=self._learning_rate)[-1]
            self.n_iter_ += 1
            self.t_ += n
            loss = stats["train_loss"] + self._l2_loss(n)
            self.loss_ = loss
            self.loss_curve_.append(loss)
            if sgd and self.learning_rate == "invscaling":
                # scikit-learn's schedule: lr_init / (samples seen + 1)^power_t, set per epoch.
                self._learning_rate = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            val = None
            if X_val is not None:
                val = self._val_score(X_val, t_val)
                self.validation_scores_.append(val)
            if self.verbose:
                self._report(stats, loss, val, time.perf_counter() - start, n)
            if incremental:
                break
            if X_val is not None:
                if val < self.best_validation_score_ + self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if val > self.best_validation_score_:
                    self.best_validation_score_ = val
                    best_params = self.model_.parameters.copy()
            else:
                if loss > self.best_loss_ - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                self.best_loss_ = min(self.best_loss_, loss)
            if self._no_improvement_count > self.n_iter_no_change:
                what = ("Validation score" if X_val is not None else "Training loss")
                msg = (f"{what} did not improve more than tol={self.tol} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
                if sgd and self.learning_rate == "adaptive" and self._learning_rate > 1e-6:
                    # scikit-learn's adaptive schedule: the rate divided by 5, patience anew.
                    self._learning_rate /= 5.0
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(f"{msg} Setting learning rate to {self._learning_rate:f}",
                              flush=True)
                    continue
                if self.verbose:
                    tail = (" Learning rate too small." if sgd and self.learning_rate == "adaptive"
                            else "")
                    print(f"{msg}{tail} Stopping.", flush=True)
                break
        else:
            if not incremental and self.max_iter > 0:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                              "reached and the optimization hasn't converged yet.",
                              ConvergenceWarning)
        if best_params is not None:
            self.model_.parameters = best_params
        if X_val is not None:
            self.best_loss_ = None
        return self

    def _fit_lbfgs(self, X, targets):
        """scikit-learn's full-batch L-BFGS (scipy's L-BFGS-B with maxiter=max_iter,
        maxfun=max_fun, gtol=tol) on the mean loss plus alpha/2 ||W||^2 / n over the weights,
        every function and gradient evaluation computed by propel."""
        n = X.shape[0]
        chunk = min(n, max(_LBFGS_CHUNK_ROWS, int(self.shard_size)))
        trainer = _core.Trainer(
            self.model_, optimizer="sgd", lr=0.0, max_batch=chunk, shard_rows=self.shard_size,
            executor=self.executor, threads=0 if self.threads is None else int(self.threads),
            precision=self.precision, portable=bool(self.portable))
        self._trainer = None  # partial_fit is for the stochastic solvers
        model = self.model_
        weights = np.zeros(model.parameter_count, dtype=bool)
        for layer in self.model_.layers:
            weights[layer["weight_offset"]:layer["bias_offset"]] = True
        alpha = float(self.alpha)

        def loss_and_gradient(x):
            model.parameters = x
            loss, grad = 0.0, np.zeros(x.shape[0])
            for r0 in range(0, n, chunk):  # chunks of rows, weighted to the full batch's mean
                r1 = min(n, r0 + chunk)
                stats = trainer.compute_gradients(X[r0:r1], targets[r0:r1])
                share = (r1 - r0) / n
                loss += stats["loss"] * share
                grad += self.model_.gradients.astype(np.float64) * share
            w = x[weights]
            loss += 0.5 * alpha * float(np.dot(w, w)) / n
            grad[weights] += alpha * w / n
            return loss, grad

        options = {"maxfun": int(self.max_fun), "maxiter": int(self.max_iter),
                   "gtol": float(self.tol)}
        iterations = []

        def report(intermediate_result):
            iterations.append(None)
            print(f"Iteration {len(iterations)}, loss = {intermediate_result.fun:.8f}",
                  flush=True)

        result = scipy.optimize.minimize(loss_and_gradient, model.parameters.astype(np.float64),
                                         method="L-BFGS-B", jac=True, options=options,
                                         callback=report if self.verbose else None)
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = float(result.fun)
        model.parameters = result.x
        if not np.all(np.isfinite(model.parameters)):
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        return self

    def _check_solver(self):
        if self.solver not in ("sgd", "adam", "adamw"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _l2_loss(self, n):
        """scikit-learn's reported loss includes alpha/2 ||W||^2 / n over the weights."""
        if self.alpha == 0:
            return 0.0
        total = sum(float(np.dot(w.ravel(), w.ravel())) for w in self._weights())
        return 0.5 * self.alpha * total / n

    def _weights(self):
        return [self.model_.weights(i) for i in range(len(self.model_.layers))]

    def _report(self, stats, loss, val, seconds, n):
        line = f"epoch {self.n_iter_:4d}  loss {loss:.4f}"
        if val is not None:
            line += f"  |  validation score {val:.4f}"
        rate = n / seconds if seconds > 0 else float("inf")
        line += f"  |  {seconds:.2f} s, {rate:.0f} samples/s"
        print(line, file=sys.stdout, flush=True)

    def fit(self, X, y):
        """Trains for up to max_iter epochs (scikit-learn's stopping rules); returns self.
        A float32 C-contiguous X is used in place; Ctrl-C stops between batches."""
        return self._fit(X, y, incremental=False)

    # -- the fitted model ----------------------------------------------------------------------
    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    @property
    def coefs_(self):
        """W^T of every layer (in x out, scikit-learn's layout): transposed views of the model."""
        check_is_fitted(self)
        return [w.T for w in self._weights()]

    @property
    def intercepts_(self):
        check_is_fitted(self)
        return [self.model_.bias(i) for i in range(len(self.model_.layers))]

    def _forward(self, X):
        """The head's outputs: float32 for a float32 X, float64 otherwise (as scikit-learn's
        estimators keep float32 and give float64 for everything else). The sigmoid outputs in
        float64 come from the logits (SciPy's expit, libm's exp), so that a probability stays
        strictly inside (0, 1) as far as float64 resolves it (|logit| below 36), not only as far
        as float32 does (1 from 16.6, 0 below -103): what scikit-learn's checks ask of
        predict_proba."""
        check_is_fitted(self)
        keep32 = getattr(X, "dtype", None) == np.float32
        X = validate_data(self, X, reset=False, dtype=np.float32, order="C")
        if not keep32 and self._head == "binary":
            return scipy.special.expit(self.model_.predict_logits(X).astype(np.float64))
        p = self.model_.predict(X)
        return p if keep32 else p.astype(np.float64)

    def __getstate__(self):
        # The trainer goes as its checkpoint (optimizer state and update count): a partial_fit
        # after unpickling continues exactly where this estimator would.
        state = super().__getstate__()
        trainer = state.pop("_trainer", None)
        if trainer is not None:
            state["_trainer_checkpoint"] = (trainer.max_batch, trainer.to_bytes())
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier trained by propel.

    Two classes: one sigmoid output with binary cross-entropy; more: softmax with cross-entropy;
    a label-indicator matrix y (multilabel): one sigmoid output per label. Parameters as
    scikit-learn's MLPClassifier, plus threads (None: propel.num_threads()), shard_size (rows
    per shard: results depend on it, never on threads), executor ("tbb", "omp", "serial") and
    precision ("fp32", or "bf16": the GEMMs' operands rounded to bf16, products summed in fp32;
    predict runs in the precision the model was last trained in) and portable (True: the fitted
    parameters and the predictions are bitwise the same on every x86-64 CPU, for the solvers
    "sgd" and "adam"; docs/reproducibility.md says what it covers).
    """

    _y_numeric = False

    def _encode_targets(self, y, continuing):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            classes = np.arange(y.shape[1])
            if continuing and not np.array_equal(classes, self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels, the model was fitted on {len(self.classes_)}")
            self.classes_ = classes
            self._head, self._outputs = "binary", y.shape[1]
            return np.ascontiguousarray(y, dtype=np.float32)
        check_classification_targets(y)
        if continuing:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(f"y has classes {unseen.tolist()} not in classes_ {self.classes_.tolist()}")
        else:
            if not hasattr(self, "_partial_classes"):
                self.classes_ = np.unique(y)
            else:
                self.classes_ = self._partial_classes
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; y has "
                             f"{len(self.classes_)} class ({self.classes_.tolist()})")
        index = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            self._head, self._outputs = "binary", 1
            return (index == 1).astype(np.float32).reshape(-1, 1)
        self._head, self._outputs = "multiclass", len(self.classes_)
        return index.astype(np.int32)

    def _val_score(self, X_val, t_val):
        p = self.model_.predict(X_val)
        if self._head == "multiclass":
            return float(np.mean(np.argmax(p, axis=1) == t_val))
        return float(np.mean(np.all((p > 0.5) == (t_val > 0.5), axis=1)))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing the model and the optimizer state. The first call
        needs `classes` (every class y will ever hold)."""
        if not hasattr(self, "model_"):
            if classes is None and type_of_target(y) != "multilabel-indicator":
                raise ValueError("classes must be passed on the first call to partial_fit")
            if classes is not None:
                self._partial_classes = np.unique(classes)
        try:
            return self._fit(X, y, incremental=True)
        finally:
            self.__dict__.pop("_partial_classes", None)

    def predict_proba(self, X):
        """Probabilities: (n, classes); multilabel: (n, labels), one probability each."""
        p = self._forward(X)
        if self._head == "binary" and self._outputs == 1:
            return np.hstack([1.0 - p, p])
        return p

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        p = self._forward(X)
        if self._head == "multiclass":
            return self.classes_[np.argmax(p, axis=1)]
        if self._outputs == 1:
            return self.classes_[(p[:, 0] > 0.5).astype(int)]
        return (p > 0.5).astype(int)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor trained by propel: an identity output layer with the
    squared error, one output per target column. Parameters as scikit-learn's MLPRegressor, plus
    threads, shard_size, executor, precision and portable (see MLPClassifier)."""

    _y_numeric = True

    def _encode_targets(self, y, continuing):
        y = np.asarray(y)
        self._y_1d = y.ndim == 1
        t = y.reshape(-1, 1) if y.ndim == 1 else y
        if continuing and t.shape[1] != self._outputs:
            raise ValueError(f"y has {t.shape[1]} targets, the model was fitted on {self._outputs}")
        self._head, self._outputs = "regression", t.shape[1]
        return np.ascontiguousarray(t, dtype=np.float32)

    def _val_score(self, X_val, t_val):
        p = self.model_.predict(X_val)
        ss_res = float(np.sum((t_val - p) ** 2))
        ss_tot = float(np.sum((t_val - t_val.mean(axis=0)) ** 2))
        return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing the model and the optimizer state."""
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        p = self._forward(X)
        return p.ravel() if self._y_1d else p
