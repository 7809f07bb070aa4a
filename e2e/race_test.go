//go:build race

package e2e

// raceBuild is set when the tests run under -race: the tagdrift binary they start is
// then built with -race too, so that a data race inside `tagdrift serve` fails the run
// (the race detector exits the process with status 66 and prints the race).
const raceBuild = true
