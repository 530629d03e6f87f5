package sfctl

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completionTimeout bounds the NATS round trips of a shell completion: a
// prompt that hangs is worse than one that offers nothing.
const completionTimeout = 2 * time.Second

// completeTaskIDs completes task ids from the task state bucket; with
// final false, only tasks that have not ended (what cancel accepts).
func completeTaskIDs(g *globals, final bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		_ = applyEnv(cmd.Flags()) // completion skips PersistentPreRunE
		c, err := g.connect()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		defer c.close()
		kv, err := c.tasks(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		all, err := listTasks(ctx, kv)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		sortNewestFirst(all)
		var out []cobra.Completion
		for _, st := range all {
			if strings.HasPrefix(st.ID, prefix) && (final || !st.State.Final()) {
				out = append(out, cobra.CompletionWithDesc(st.ID, string(st.State)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
