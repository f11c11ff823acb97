//! The checked-in contract is the built component: `wit/agent.wit`'s world `sdp-agent` names
//! exactly the imports and exports of the component the host embeds, with the same functions
//! and types in the agent's own interfaces.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{Function, Resolve, Type, TypeDefKind, TypeId, WorldId, WorldItem};

/// `import NAME` / `export NAME` lines, and for each `sdp:*` interface its functions and types.
fn contract(resolve: &Resolve, world: WorldId) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let w = &resolve.worlds[world];
    for (dir, items) in [("import", &w.imports), ("export", &w.exports)] {
        for (key, item) in items {
            let name = resolve.name_world_key(key);
            let lines = match item {
                WorldItem::Interface { id, .. } if name.starts_with("sdp:") => {
                    interface(resolve, *id)
                }
                WorldItem::Interface { .. } => Vec::new(),
                WorldItem::Function(f) => vec![function(resolve, f)],
                WorldItem::Type { id, .. } => vec![typedef(resolve, *id)],
            };
            out.insert(format!("{dir} {name}"), lines);
        }
    }
    out
}

fn interface(resolve: &Resolve, id: wit_parser::InterfaceId) -> Vec<String> {
    let i = &resolve.interfaces[id];
    let mut lines: Vec<String> = i.types.values().map(|t| typedef(resolve, *t)).collect();
    lines.extend(i.functions.values().map(|f| function(resolve, f)));
    lines.sort();
    lines
}

fn function(resolve: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, ty(resolve, &p.ty)))
        .collect();
    let result = f
        .result
        .as_ref()
        .map(|t| ty(resolve, t))
        .unwrap_or_default();
    format!("func {}({}) -> {result}", f.name, params.join(", "))
}

fn typedef(resolve: &Resolve, id: TypeId) -> String {
    let t = &resolve.types[id];
    let name = t.name.clone().unwrap_or_default();
    let body = match &t.kind {
        TypeDefKind::Record(r) => r
            .fields
            .iter()
            .map(|f| format!("{}: {}", f.name, ty(resolve, &f.ty)))
            .collect::<Vec<_>>()
            .join(", "),
        TypeDefKind::Variant(v) => v
            .cases
            .iter()
            .map(|c| match &c.ty {
                Some(t) => format!("{}({})", c.name, ty(resolve, t)),
                None => c.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(" | "),
        TypeDefKind::Enum(e) => e
            .cases
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
            .join(" | "),
        TypeDefKind::Flags(f) => f
            .flags
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
            .join(" | "),
        // `use` of a type from another interface, and anything else: its shape.
        _ => anonymous(resolve, id),
    };
    format!("type {name} = {body}")
}

fn ty(resolve: &Resolve, t: &Type) -> String {
    match t {
        Type::Id(id) => match &resolve.types[*id].name {
            Some(name) => name.clone(),
            None => anonymous(resolve, *id),
        },
        other => format!("{other:?}").to_lowercase(),
    }
}

fn anonymous(resolve: &Resolve, id: TypeId) -> String {
    match &resolve.types[id].kind {
        TypeDefKind::List(t) => format!("list<{}>", ty(resolve, t)),
        TypeDefKind::Option(t) => format!("option<{}>", ty(resolve, t)),
        TypeDefKind::Result(r) => format!(
            "result<{}, {}>",
            r.ok.as_ref().map(|t| ty(resolve, t)).unwrap_or("_".into()),
            r.err.as_ref().map(|t| ty(resolve, t)).unwrap_or("_".into())
        ),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types
                .iter()
                .map(|t| ty(resolve, t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Type(t) => ty(resolve, t),
        other => format!("{other:?}"),
    }
}

#[test]
fn the_checked_in_world_is_the_built_component() {
    let wit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut checked_in = Resolve::default();
    let (package, _) = checked_in.push_dir(&wit).expect("wit/ parses");
    let world = checked_in
        .select_world(&[package], Some("sdp-agent"))
        .expect("world sdp-agent");
    let expected = contract(&checked_in, world);

    let bytes = std::fs::read(common::component()).expect("the built component");
    let DecodedWasm::Component(built, built_world) = decode(&bytes).expect("a component") else {
        panic!("the built file is a WIT package, not a component")
    };
    let actual = contract(&built, built_world);

    let show = |m: &BTreeMap<String, Vec<String>>| {
        m.iter()
            .map(|(k, v)| {
                format!(
                    "{k}\n{}",
                    v.iter().map(|l| format!("    {l}\n")).collect::<String>()
                )
            })
            .collect::<String>()
    };
    assert_eq!(
        show(&actual),
        show(&expected),
        "the built component (left) differs from wit/agent.wit's world sdp-agent (right)"
    );
    // The test compares something: both HTTP directions and the agent are in it.
    for key in [
        "export sdp:agent/agent@0.1.0",
        "export wasi:http/incoming-handler@0.2.12",
        "import wasi:http/outgoing-handler@0.2.12",
        "import wasi:cli/environment@0.2.12",
    ] {
        assert!(
            expected.contains_key(key),
            "{key} missing from the contract"
        );
    }
    assert!(
        expected["export sdp:agent/agent@0.1.0"]
            .iter()
            .any(|l| l.starts_with("func predict(payload: string) -> result<submitted-run")),
        "{:?}",
        expected["export sdp:agent/agent@0.1.0"]
    );
}
