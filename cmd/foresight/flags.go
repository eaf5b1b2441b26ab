package main

import (
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// durationFlag is a time.Duration flag that also takes d and w units.
type durationFlag time.Duration

func (d *durationFlag) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return forecast.FormatDuration(time.Duration(*d))
}

func (d *durationFlag) Set(s string) error {
	v, err := forecast.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

// windowsFlag collects repeated START/END windows.
type windowsFlag []forecast.Window

func (w *windowsFlag) String() string {
	if w == nil {
		return ""
	}
	parts := make([]string, len(*w))
	for i, x := range *w {
		parts[i] = x.String()
	}
	return strings.Join(parts, ",")
}

func (w *windowsFlag) Set(s string) error {
	x, err := forecast.ParseWindow(s)
	if err != nil {
		return err
	}
	*w = append(*w, x)
	return nil
}
