package corpus_test


func analysisCases() []bad { return nil }
func rolloutCases() []bad  { return nil }
func providerCases() []bad { return nil }
