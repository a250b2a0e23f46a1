package corpus_test

func strategyCases() []bad { return nil }
func analysisCases() []bad { return nil }
func rolloutCases() []bad  { return nil }
func providerCases() []bad { return nil }
