pub mod fake_node;
