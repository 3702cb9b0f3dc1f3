// Package command holds what the module's commands (kindling-events,
// kindling-collector) share about their command lines: the words of flag
// errors and the version they report.
package command

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// FlagError words a flag's bad value as "--flag: reason", like the Python
// commands, instead of pflag's `invalid argument "x" for "--flag" flag: ...`.
// It is a cobra flag error function (Command.SetFlagErrorFunc).
func FlagError(_ *cobra.Command, err error) error {
	var invalid *pflag.InvalidValueError
	if !errors.As(err, &invalid) {
		return err
	}
	reason := invalid.Unwrap().Error()
	if invalid.GetFlag().Value.Type() == "int" { // not strconv's words
		reason = fmt.Sprintf("%q is not a whole number", invalid.GetValue())
	}
	return fmt.Errorf("--%s: %s", invalid.GetFlag().Name, reason)
}

// Version is built, the version set at build time (-ldflags "-X
// main.version=..."), or else the module's, or "(devel)".
func Version(built string) string {
	if built != "" {
		return built
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

// VersionCommand is the "version" subcommand: it prints "prog version".
func VersionCommand(prog, version string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the command's version",
		Args:  cobra.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			fmt.Fprintf(c.OutOrStdout(), "%s %s\n", prog, version)
		},
	}
}
