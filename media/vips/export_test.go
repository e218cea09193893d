package vips

// Probe exposes probe to the external tests.
var Probe = probe

// StripWebP exposes stripWebP to the external tests.
var StripWebP = stripWebP
