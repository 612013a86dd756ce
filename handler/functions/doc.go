// Package functions speaks the Azure Functions custom handler protocol
// (FACTS.md §2): the host polls GET / for readiness, then POSTs
// /<FunctionName> with {"Data":{<binding>: value},"Metadata":{...}} for each
// invocation, and reads back {"Outputs":{},"Logs":[...],"ReturnValue":null}.
// A non-2xx answer fails the invocation, so Event Grid or Event Hub
// redelivers; AppWarden answers 500 only for transient failures.
package functions
