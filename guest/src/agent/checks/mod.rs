//! Data checks after a waited update that completed (issue 19 item 7).

pub mod declared;
