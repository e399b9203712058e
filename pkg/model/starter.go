package model

import (
	_ "embed" // the starter trainer
	"slices"
)

//go:embed starter/trainer.py
var starterTrainer []byte

// StarterTrainer is the main file init writes beside a new kaptain.yaml: a toy trainer that
// needs only Python's standard library, reads its hyperparameters as --name=value, prints
// name=value metrics and saves to TRAINED_MODEL_UPLOAD_PATH, so that train --local and tune
// --local run at once.
func StarterTrainer() []byte { return slices.Clone(starterTrainer) }
