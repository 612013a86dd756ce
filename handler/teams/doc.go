// Package teams is the Microsoft Teams channel: the Adaptive Card of a
// notice or an alert, wrapped as a Workflows webhook message, and the
// webhook poster. Posts to one webhook are paced (Workflows throttles above
// 4 per second), throttling and server errors are retried with Retry-After
// honoured, and every error is scrubbed of the secret URL.
package teams
