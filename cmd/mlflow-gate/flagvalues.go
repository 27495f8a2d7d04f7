package main

import (
	"strconv"
)

// optString is a string flag that knows whether it was given, for commands
// that change only what is named (`client update`, `user update`).
type optString struct {
	v   string
	set bool
}

func (o *optString) String() string { return o.v }
func (o *optString) Set(s string) error {
	o.v, o.set = s, true
	return nil
}

// ptr is the value when given, else nil.
func (o *optString) ptr() *string {
	if !o.set {
		return nil
	}
	v := o.v
	return &v
}

// list is the comma-separated value when given, else nil; "" is the empty
// list.
func (o *optString) list() *[]string {
	if !o.set {
		return nil
	}
	l := splitList(o.v)
	if l == nil {
		l = []string{}
	}
	return &l
}

// optBool is a boolean flag that knows whether it was given (--x, --x=false).
type optBool struct {
	v   bool
	set bool
}

func (o *optBool) String() string   { return strconv.FormatBool(o.v) }
func (o *optBool) IsBoolFlag() bool { return true }
func (o *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.v, o.set = v, true
	return nil
}

func (o *optBool) ptr() *bool {
	if !o.set {
		return nil
	}
	v := o.v
	return &v
}
