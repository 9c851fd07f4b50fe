// Command compose_loader reads this project's container files with the libraries Docker itself uses, so
// that tests can check them on a machine without a Docker engine.
//
//	compose_loader project -f docker-compose.yml [-project-directory DIR]
//	    loads the Compose file with the Compose Specification loader (compose-go, the library of
//	    `docker compose` v2): .env and process environment, interpolation, schema validation,
//	    normalization, consistency checks and path resolution; prints the normalized project as JSON.
//	compose_loader dockerignore -f .dockerignore PATH...
//	    prints, as a JSON object, whether each context-relative PATH is left out of the build context by
//	    the ignore file, with the pattern matcher of the Docker build (moby/patternmatcher).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: compose_loader project|dockerignore [flags]"))
	}
	var out []byte
	var err error
	switch os.Args[1] {
	case "project":
		out, err = project(os.Args[2:])
	case "dockerignore":
		out, err = dockerignore(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

// project loads a Compose file the way `docker compose` does before it talks to the engine.
func project(args []string) ([]byte, error) {
	flags := flag.NewFlagSet("project", flag.ExitOnError)
	file := flags.String("f", "docker-compose.yml", "Compose file")
	dir := flags.String("project-directory", "", "project directory (default: the Compose file's folder)")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	workdir := *dir
	if workdir == "" {
		workdir = filepath.Dir(*file)
	}
	options, err := cli.NewProjectOptions(
		[]string{*file},
		cli.WithWorkingDirectory(workdir),
		cli.WithOsEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	loaded, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	return loaded.MarshalJSON()
}

// dockerignore reports which paths the ignore file keeps out of the build context.
func dockerignore(args []string) ([]byte, error) {
	flags := flag.NewFlagSet("dockerignore", flag.ExitOnError)
	file := flags.String("f", ".dockerignore", "ignore file")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	reader, err := os.Open(*file)
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	patterns, err := ignorefile.ReadAll(reader)
	if err != nil {
		return nil, err
	}
	matcher, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, err
	}
	excluded := map[string]bool{}
	for _, path := range flags.Args() {
		matched, err := matcher.MatchesOrParentMatches(filepath.ToSlash(filepath.Clean(path)))
		if err != nil {
			return nil, err
		}
		excluded[path] = matched
	}
	return json.MarshalIndent(excluded, "", "  ")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose_loader:", err)
	os.Exit(1)
}
