//! Saga message decoding with limits: never a panic; what decodes is within the limits.
#![no_main]

use civitas_events::saga::{
    self, ApisixRouteCreate, ApisixRouteDelete, DatasetCreateRequested, FrostProjectCreate,
    FrostProjectDelete, StepResult,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = saga::decode::<DatasetCreateRequested>(data, "request");
    let _ = saga::decode::<StepResult>(data, "result");
    let _ = saga::decode::<FrostProjectCreate>(data, "command");
    let _ = saga::decode::<FrostProjectDelete>(data, "command");
    let _ = saga::decode::<ApisixRouteCreate>(data, "command");
    if let Ok(request) = saga::decode::<DatasetCreateRequested>(data, "request") {
        assert!(request.message_id.chars().count() <= saga::limits::ID_CHARS);
        let _ = request.problems();
    }
    let _ = saga::decode::<ApisixRouteDelete>(data, "command");
});
