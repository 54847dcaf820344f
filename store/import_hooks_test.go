package store

// UnneutralizeForTest is unneutralize, for the tests of the import.
var UnneutralizeForTest = unneutralize
