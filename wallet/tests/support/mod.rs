pub mod fake_node;
pub mod wallet;
