// Package bench holds what `make bench` runs that belongs to no single package: bench.sh (the performance
// table written to BENCHMARKS.md), profile.sh (where a row's time goes), and Go benchmarks over more than one
// package, such as the InstantDB paging benchmark.
package bench
