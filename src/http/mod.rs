//! HTTP plumbing shared by the node and the seed server.
