package main

import "github.com/colinux-ng/colinux/pkg/rootless"

// rootlessChild is rootless.InChild: Linux's, as build is.
func rootlessChild() error { return rootless.InChild() }
