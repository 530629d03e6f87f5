package sfctl

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/screenfleet/screenfleet/internal/recording"
)

func newExportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "export TASK_ID DIR",
		Short: "Write a recorded task's frames as PNG files with a JSON index",
		Long: `export writes every frame a task sent for inference into DIR as a PNG file,
and DIR/index.json describing each: task, sandbox, sequence, capture time,
sizes, the detections recorded for it and the targets chosen on it.`,
		Example: "  sfctl export login-001 frames/",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.connect()
			if err != nil {
				return err
			}
			defer c.close()
			rec, err := recording.Load(cmd.Context(), c.js, c.sub, recording.Selection{Task: args[0]})
			if err != nil {
				return loadExit(err)
			}
			idx, err := recording.Export(args[1], rec)
			if err != nil {
				return err
			}
			n := len(idx.Frames)
			fmt.Fprintf(g.out, "%d frame%s of %s written to %s\n", n, plural(n), args[0],
				filepath.Join(args[1], recording.IndexFile))
			return nil
		},
	}
}
