; License Companion: per-user Windows installer for the PyInstaller onedir build.
;
; Compiled by scripts/build-all.sh (makensis runs on Linux too); every name comes from
; installer/branding.py, passed as defines:
;   makensis -DAPP_ID=license-companion -DDISPLAY_NAME="License Companion" -DVERSION=0.1.0
;            -DWIN_VERSION=0.1.0.0 -DPUBLISHER=... -DHOMEPAGE=... -DSOURCE_DIR=dist\license-companion
;            -DOUTFILE=dist\license-companion-0.1.0-setup.exe [-DICON=app.ico] license-companion.nsi
;
; What it does, all per user (no admin prompt, nothing outside the user's profile):
;   - copies the onedir build to %LOCALAPPDATA%\Programs\<display name>
;   - a Start-menu shortcut to <app_id>-tray.exe (the windowed build of the same program)
;   - optional section "Start at login": HKCU\...\Run value <app_id>, the same value the tray's
;     own "Start at login" switch writes (app/support/autostart.py), so either can turn it off
;   - an entry in "Apps & features" with a quiet uninstall string
; Uninstall removes the program, the shortcut and the Run value. Only if the user ticks
; "Also remove my settings and data" (or passes /REMOVEDATA) does it first run
; `<app_id>.exe license clear` (the key leaves Credential Manager) and delete the state folder.
;
; Silent use (a vendor's installer embedding ours): setup.exe /S [/NOSTARTATLOGIN] [/D=dir]
;                                                   uninstall.exe /S [/REMOVEDATA]

Unicode true
; 64-bit stub: the app is 64-bit anyway, and it lets wine64 run the installer in CI.
Target amd64-unicode
ManifestDPIAware true
RequestExecutionLevel user
SetCompressor /SOLID lzma

!ifndef APP_ID | DISPLAY_NAME | VERSION | WIN_VERSION | SOURCE_DIR | OUTFILE
  !error "pass -DAPP_ID -DDISPLAY_NAME -DVERSION -DWIN_VERSION -DSOURCE_DIR -DOUTFILE (see the header)"
!endif
!ifndef PUBLISHER
  !define PUBLISHER "${DISPLAY_NAME}"
!endif
!ifndef HOMEPAGE
  !define HOMEPAGE ""
!endif

!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_ID}"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define TRAY_EXE "${APP_ID}-tray.exe"
!define CLI_EXE "${APP_ID}.exe"
; platformdirs.user_data_dir(APP_ID, appauthor=False, roaming=False) on Windows
!define STATE_DIR "$LOCALAPPDATA\${APP_ID}"

!include "MUI2.nsh"
!include "nsDialogs.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "Sections.nsh"

Name "${DISPLAY_NAME}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${DISPLAY_NAME}"
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"
BrandingText "${DISPLAY_NAME} ${VERSION}"

VIProductVersion "${WIN_VERSION}"
VIFileVersion "${WIN_VERSION}"
VIAddVersionKey "ProductName" "${DISPLAY_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${DISPLAY_NAME} setup"
VIAddVersionKey "LegalCopyright" "${PUBLISHER}"

!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_NODESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${TRAY_EXE}"
!define MUI_FINISHPAGE_RUN_PARAMETERS "tray"

!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH

!insertmacro MUI_UNPAGE_CONFIRM
UninstPage custom un.RemoveDataPage un.RemoveDataLeave
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"

Var RemoveData
Var RemoveDataBox

; The tray holds its files open; stop it before files are replaced or deleted.
!macro StopTray
  nsExec::Exec 'taskkill /F /T /IM "${TRAY_EXE}"'
  Pop $0
  Sleep 500
!macroend

Section "${DISPLAY_NAME}" SecApp
  SectionIn RO
  !insertmacro StopTray
  ; A previous version's files must not linger next to the new ones.
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File /r "${SOURCE_DIR}\*.*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\${DISPLAY_NAME}.lnk" "$INSTDIR\${TRAY_EXE}" "tray" "$INSTDIR\${TRAY_EXE}" 0

  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${DISPLAY_NAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "URLInfoAbout" "${HOMEPAGE}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${TRAY_EXE}"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" "$0"
SectionEnd

Section "Start at login" SecStartAtLogin
  WriteRegStr HKCU "${RUN_KEY}" "${APP_ID}" '"$INSTDIR\${TRAY_EXE}" tray'
SectionEnd

; After the sections: it refers to their index.
Function .onInit
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/NOSTARTATLOGIN" $R1
  ${IfNot} ${Errors}
    !insertmacro UnselectSection ${SecStartAtLogin}
  ${EndIf}
FunctionEnd

; --- uninstaller ---------------------------------------------------------------------------------

Function un.onInit
  StrCpy $RemoveData ${BST_UNCHECKED}
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/REMOVEDATA" $R1
  ${IfNot} ${Errors}
    StrCpy $RemoveData ${BST_CHECKED}
  ${EndIf}
FunctionEnd

Function un.RemoveDataPage
  !insertmacro MUI_HEADER_TEXT "Your settings and data" "Choose what to keep."
  nsDialogs::Create 1018
  Pop $0
  ${NSD_CreateLabel} 0 0 100% 48u "The program will be removed. Your license key stays in Windows \
Credential Manager and your settings, queued events and history stay in ${STATE_DIR}, so a \
later installation picks them up again."
  Pop $0
  ${NSD_CreateCheckbox} 0 56u 100% 12u "Also remove my settings and data, and the license key"
  Pop $RemoveDataBox
  ${NSD_SetState} $RemoveDataBox $RemoveData
  nsDialogs::Show
FunctionEnd

Function un.RemoveDataLeave
  ${NSD_GetState} $RemoveDataBox $RemoveData
FunctionEnd

Section "Uninstall"
  !insertmacro StopTray
  ${If} $RemoveData == ${BST_CHECKED}
    ; Before the files go: the program itself knows where its key is.
    nsExec::ExecToLog '"$INSTDIR\${CLI_EXE}" license clear'
    Pop $0
    RMDir /r "${STATE_DIR}"
  ${EndIf}
  DeleteRegValue HKCU "${RUN_KEY}" "${APP_ID}"
  Delete "$SMPROGRAMS\${DISPLAY_NAME}.lnk"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${CLI_EXE}"
  Delete "$INSTDIR\${TRAY_EXE}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINST_KEY}"
SectionEnd
