//! The flows as the engine read them (`sdp_graph.py`) in the pipeline's names, over the
//! emulator's own reading: they are what the `flow_definition` events report. A flow the
//! engine did not read keeps the emulator's reading.

use serde::Deserialize;

use crate::engine::names::Names;
use crate::engine::{Flow, Graph};

/// One `flow` line of the driver, names as the engine has them (local databases).
#[derive(Debug, Deserialize)]
pub struct EngineFlow {
    name: String,
    output: String,
    inputs: Vec<String>,
    streamed: Vec<String>,
}

/// The graph with every flow the engine read in its place.
pub fn merge(graph: &mut Graph, flows: Vec<EngineFlow>, names: &Names) {
    for flow in flows {
        let public = |name: &str| public_name(name, names);
        let (Some(name), Some(output)) = (public(&flow.name), public(&flow.output)) else {
            continue;
        };
        let read = Flow {
            name: name.clone(),
            output,
            inputs: flow.inputs.iter().filter_map(|i| public(i)).collect(),
            streaming: !flow.streamed.is_empty(),
            streamed: flow.streamed.iter().filter_map(|i| public(i)).collect(),
        };
        match graph
            .flows
            .iter_mut()
            .find(|f| f.name.eq_ignore_ascii_case(&name))
        {
            Some(known) => {
                // A flow into a streaming table streams even when the engine saw no stream.
                let streaming = known.streaming || read.streaming;
                *known = Flow { streaming, ..read };
            }
            None => graph.flows.push(read),
        }
    }
}

/// A name of the engine's in the pipeline's names ([`Names::user_name`]); None for the views
/// standing for `read_files` (a file source, not a dataset).
fn public_name(name: &str, names: &Names) -> Option<String> {
    let last = name.rsplit('.').next()?;
    (!last.contains("__read_files_")).then(|| names.user_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_flows_replace_the_emulators_reading_in_the_users_names() {
        let names = Names::new("main", "sales", "t1", &[]);
        let mut graph = Graph {
            datasets: vec![],
            flows: vec![Flow {
                name: "silver".into(),
                output: "silver".into(),
                inputs: vec!["guessed".into()],
                streaming: false,
                streamed: vec![],
            }],
        };
        let flows = vec![
            EngineFlow {
                name: "`sales__t1`.`silver`".into(),
                output: "sales__t1.silver".into(),
                inputs: vec![
                    "bronze".into(),
                    "samples__nyctaxi.trips".into(),
                    "silver__read_files_1".into(),
                    "sales.orders".into(),
                    "main.other.customers".into(),
                    "`other__t1`.`x`".into(),
                ],
                streamed: vec!["bronze".into()],
            },
            EngineFlow {
                name: "gold".into(),
                output: "gold".into(),
                inputs: vec!["`sales__t1`.`silver`".into()],
                streamed: vec![],
            },
        ];
        merge(&mut graph, flows, &names);
        assert_eq!(graph.flows.len(), 2);
        assert_eq!(
            graph.flows[0].inputs,
            [
                "bronze",
                "samples.nyctaxi.trips",
                "orders",
                "other.customers",
                "other.x"
            ]
        );
        assert_eq!(graph.flows[0].streamed, ["bronze"]);
        assert!(graph.flows[0].streaming);
        assert_eq!(graph.flows[1].name, "gold");
        assert_eq!(graph.flows[1].inputs, ["silver"]);
    }
}
