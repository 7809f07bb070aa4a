// Package hack holds the scripts that set up the tests, the demo and make serve (the
// shell scripts here), and the tests of those scripts; its subdirectories hold the
// benchmark programs and the River migration generator.
package hack
