// Package chaos is Parley's chaos suite: tests only (this file is the
// package's sole non-test source). TestChaos runs one subtest per fault.
package chaos
