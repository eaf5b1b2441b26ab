package forecast

import (
	"errors"
	"fmt"
)

// Errors for histories no model can be fitted to. Callers branch on them
// with errors.Is; a scaler falls back to the reactive value.
var (
	// ErrNoData: the history has no finite value.
	ErrNoData = errors.New("history has no finite values")
	// ErrTooShort: the history has fewer finite values than the simplest
	// model needs (MinPoints).
	ErrTooShort = errors.New("history too short to fit a model")
	// ErrDiverged: even the simplest model's state left the floating-point
	// range on this history.
	ErrDiverged = errors.New("model state diverged")
)

// MinPoints is the fewest finite values Fit accepts.
const MinPoints = 4

// NoteCode classifies a Note, so that callers can count fallbacks by reason.
type NoteCode string

// Note codes.
const (
	// NoteShortHistory: fewer than two seasons of history for a seasonal
	// model; a non-seasonal model (or the shorter season) was fitted.
	NoteShortHistory NoteCode = "short_history"
	// NoteConstant: the history is constant; the forecast is that constant
	// with a zero-width band.
	NoteConstant NoteCode = "constant"
	// NoteNonFinite: infinite values were treated as missing.
	NoteNonFinite NoteCode = "non_finite"
	// NoteNonPositive: multiplicative seasonality needs positive values;
	// additive seasonality was fitted instead.
	NoteNonPositive NoteCode = "non_positive"
	// NoteMissing: the history had missing or excluded values, which the
	// model skipped over with its own predictions.
	NoteMissing NoteCode = "missing"
	// NoteNoSeason: no seasonal period was detected.
	NoteNoSeason NoteCode = "no_season"
	// NoteOptimizer: the optimiser stopped at its evaluation limit before
	// converging; the parameters are the best it found.
	NoteOptimizer NoteCode = "optimizer_limit"
	// NoteDiverged: the model's state left the floating-point range; a
	// simpler model was fitted.
	NoteDiverged NoteCode = "diverged"
	// NoteAnomalies: values found wildly off were left out.
	NoteAnomalies NoteCode = "anomalies"
	// NoteGaussianBand: too few in-sample errors for an empirical band; the
	// band is the Gaussian one from the one-step error variance.
	NoteGaussianBand NoteCode = "gaussian_band"
)

// Note explains one fallback or adjustment made while fitting.
type Note struct {
	Code    NoteCode `json:"code"`
	Message string   `json:"message"`
}

func (n Note) String() string { return string(n.Code) + ": " + n.Message }

func notef(code NoteCode, format string, args ...any) Note {
	return Note{Code: code, Message: fmt.Sprintf(format, args...)}
}
