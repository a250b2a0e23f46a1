package corpus_test




func providerCases() []bad { return nil }
