package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/appwarden/appwarden/handler/setup"
)

func newFunctionsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "functions",
		Short: "List the functions the custom handler serves, as JSON",
		Long: `Lists the functions the custom handler (./handler) serves, as JSON: name (the
route the Functions host POSTs to, and the folder under function-app/),
trigger binding name and type, and body limit. Tests and tooling check it
against function-app/*/function.json and infra/.`,
		Example: `  appwarden functions
  appwarden functions | jq -r '.[].name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setup.PrintFunctions(cmd.OutOrStdout()); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "appwarden functions: %v\n", err)
				return status(exitError)
			}
			return nil
		},
	}
}
